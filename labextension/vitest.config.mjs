// Unit tests for the extension's logic and DOM pieces (protocol, state, formatting, widgets) in jsdom.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { environment: 'jsdom', include: ['test/**/*.spec.ts'], setupFiles: ['test/setup.ts'] }
});
