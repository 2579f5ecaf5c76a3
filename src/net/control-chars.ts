// One rule for text that reaches a device or a terminal: C0 and C1 control characters and DEL.
// (Config values, switch ports and CLI lines are refused when they hold one; terminal output
// replaces them: src/cli/terminal-text.ts.)

// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/

export function hasControlChars(s: string): boolean {
  return CONTROL_CHARS.test(s)
}
