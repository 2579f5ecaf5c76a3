// Text from the network (DHCP hostnames, failure reasons, vendor classes) or from a config file,
// made safe to print on a terminal: escape sequences (colours, cursor moves, title changes,
// clipboard writes), other control characters and bidirectional overrides are removed, so a
// machine on the LAN cannot rewrite what `bootlab status` or `bootlab machines` shows.
// Every CLI printer passes untrusted text through terminalText().

/** ESC/CSI sequences: CSI … final byte, OSC … BEL/ST, and two-byte ESC x */
// eslint-disable-next-line no-control-regex
const ESCAPES = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b\]|\u009d)[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[@-_]?/g
/** C0 and C1 controls, DEL, and Unicode bidirectional overrides and isolates */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** One line of text a terminal shows as written: escapes removed, other controls replaced by "?". */
export function terminalText(s: string): string {
  return s.replace(ESCAPES, '').replace(CONTROLS, '?')
}
