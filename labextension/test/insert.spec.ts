import { describe, expect, it } from 'vitest';

import { AGENT_CODE_TAG, cellFacts, earlierInserted, ICellFacts } from '../src/insert';

const agentCode = (agentCell: string): ICellFacts => ({ tags: [AGENT_CODE_TAG], agentCell });
const plain: ICellFacts = { tags: [], agentCell: null };

describe('cellFacts', () => {
  it('reads the tags and the agent cell from the metadata the kernel sends', () => {
    const metadata = { tags: [AGENT_CODE_TAG, 'other'], agent_magic: { turn_id: 't1', agent_cell: 'c1' } };
    expect(cellFacts(metadata)).toEqual({ tags: [AGENT_CODE_TAG, 'other'], agentCell: 'c1' });
  });

  it('treats missing or malformed metadata as an ordinary cell', () => {
    expect(cellFacts({})).toEqual(plain);
    expect(cellFacts({ tags: 'agent-magic', agent_magic: { agent_cell: 3 } })).toEqual(plain);
  });
});

describe('earlierInserted', () => {
  it('counts the cells an earlier run of the same agent cell inserted right below it', () => {
    const cells = [plain, agentCode('c1'), agentCode('c1'), plain];
    expect(earlierInserted(cells, 0, 'c1')).toBe(2);
  });

  it('is zero when the agent cell is followed by an ordinary cell', () => {
    expect(earlierInserted([plain, plain, agentCode('c1')], 0, 'c1')).toBe(0);
  });

  it('never takes the code cells of another agent cell', () => {
    expect(earlierInserted([plain, agentCode('c2'), agentCode('c1')], 0, 'c1')).toBe(0);
  });

  it('stops at the end of the notebook', () => {
    expect(earlierInserted([plain, agentCode('c1')], 0, 'c1')).toBe(1);
  });

  it('keeps an agent-magic cell the user moved away from its agent cell', () => {
    expect(earlierInserted([plain, agentCode('c1'), plain, agentCode('c1')], 0, 'c1')).toBe(1);
  });
});
