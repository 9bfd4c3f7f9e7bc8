"""The `%agent usage` report: totals, per model and per tool as text, and an optional chart.

Rendering only: the numbers come from the ledger's pandas views (`ledger/views.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_magic.errors import AgentUsageError

if TYPE_CHECKING:
    import pandas as pd

NO_TOOL = "(no tool)"


def cost_by_tool(usage: pd.DataFrame, tools: pd.DataFrame) -> pd.Series:
    """Dollars attributed to each tool: a model call that reads tool results (the step after the tools
    ran) is where their output is billed, so its cost is split evenly over those tools; calls that read
    no tool result count as "(no tool)". Unpriced calls are left out."""
    import pandas as pd

    ran = tools.dropna(subset=["step"]).astype({"step": "int64"})
    groups = ran.groupby(["turn", "step"], observed=True)["tool"].agg(list).rename("tools").reset_index()
    groups["step"] += 1  # the tools of step k are read by the model call of step k + 1
    calls = usage.dropna(subset=["cost_usd", "step"]).astype({"step": "int64", "turn": str})
    calls = calls.merge(groups.astype({"turn": str}), on=["turn", "step"], how="left")
    calls["tools"] = [t if isinstance(t, list) else [NO_TOOL] for t in calls["tools"]]
    calls["share"] = calls["cost_usd"] / calls["tools"].str.len()
    exploded = calls.explode("tools")
    if exploded.empty:
        return pd.Series(dtype=float, name="cost_usd")
    return exploded.groupby("tools")["share"].sum().rename("cost_usd").sort_values(ascending=False)


def usage_report(usage: pd.DataFrame, tools: pd.DataFrame, *, prices_as_of: str) -> str:
    """The `%agent usage` text: totals, per model, per tool, and a one-time note on missing prices."""
    if usage.empty and tools.empty:
        return "No model calls recorded for this notebook yet."
    priced = usage["cost_usd"].notna()
    total = usage.loc[priced, "cost_usd"].sum()
    lines = [
        f"{usage['session'].nunique()} sessions, {usage['turn'].nunique()} turns, {len(usage)} model calls, "
        f"${total:,.4f} (prices as of {prices_as_of})"
    ]
    per_model = usage.groupby("model", observed=True).agg(
        calls=("turn", "size"),
        input_tokens=("input_tokens", "sum"),
        cached_tokens=("cached_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        cost_usd=("cost_usd", lambda c: c.sum(min_count=1)),
    )
    lines += ["", per_model.to_string(float_format=lambda v: f"{v:.4f}")]
    if not tools.empty:
        refused = tools["decision"].isin(["denied", "stopped"])
        per_tool = (
            tools.assign(denied=refused, failed=(tools["ok"] == False) & ~refused)  # noqa: E712 (nullable)
            .groupby("tool")
            .agg(calls=("tool", "size"), denied=("denied", "sum"), failed=("failed", "sum"))
        )
        lines += ["", per_tool.to_string()]
    missing = sorted(usage.loc[~priced & (usage["status"] != "failed"), "model"].astype(str).unique())
    if missing:
        lines += [
            "",
            f"Prices are missing for {', '.join(missing)}: their cost is NaN, not 0. Add them with "
            f'%config AgentMagic.prices = {{"{missing[0]}": {{"input": 0.4, "cached_input": 0.1, "output": 1.6}}}}',
        ]
    estimated = int(usage["estimated"].sum())
    if estimated:
        lines.append(f"{estimated} calls are estimated from text length (the server reported no usage).")
    return "\n".join(lines)


def _pyplot() -> Any:
    """matplotlib's pyplot, or a one-line error saying how to get it (it is an optional extra)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise AgentUsageError("plotting needs matplotlib: pip install 'agent-magic[plot]'") from None
    return plt


def plot_usage(usage: pd.DataFrame, tools: pd.DataFrame) -> Any:
    """A figure: cumulative cost over time, and cost by tool (see `cost_by_tool`)."""
    plt = _pyplot()
    figure, (over_time, by_tool) = plt.subplots(1, 2, figsize=(11, 3.5))
    priced = usage.dropna(subset=["cost_usd"]).sort_values("time")
    over_time.plot(priced["time"], priced["cost_usd"].cumsum(), drawstyle="steps-post")
    over_time.set(title="Cumulative cost", ylabel="USD")
    over_time.tick_params(axis="x", labelrotation=30)
    shares = cost_by_tool(usage, tools)
    by_tool.barh(shares.index.astype(str), shares.to_numpy())
    by_tool.set(title="Cost by tool (model calls reading its results)", xlabel="USD")
    figure.tight_layout()
    return figure


def show_usage(
    calls: pd.DataFrame, tools: pd.DataFrame, *, notebook: str, ledger_path: Any, prices_as_of: str, plot: bool = False
) -> None:
    """`%agent usage`: print the report of a notebook's model calls and tool calls (the ledger's
    `usage()` and `tool_calls()` frames); with `plot`, show the chart."""
    print(f"Usage of {notebook} (ledger {ledger_path})")
    print(usage_report(calls, tools, prices_as_of=prices_as_of))
    if plot and not calls.empty:
        plot_usage(calls, tools)
        _pyplot().show()
