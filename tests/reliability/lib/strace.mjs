// SPDX-License-Identifier: MIT
// strace.mjs: reads an `strace -f -ttt -y -xx -s N -o FILE` trace of the
// broker and checks "fsync before ack" message by message.
//
// Owns: parsing strace lines (complete calls, `<unfinished ...>` and
// `<... NAME resumed>` halves of calls interrupted by another thread),
// decoding the hex strings that -xx prints (data and the -y path
// annotations), and the checker itself.
//
// The checker, for every acknowledged publish {seq, marker}:
//   1. the first pwrite64 to the WAL file whose data holds `marker`
//      (the page that carries the message's row),
//   2. the first send on a socket (sendto, write, writev, sendmsg) whose
//      bytes hold the ack {"op":"ack",...,"seq":seq} (acks may share one
//      send with other frames; server frames are unmasked, so the JSON is
//      in clear),
//   3. a successful fsync/fdatasync on the WAL file that STARTED after (1)
//      completed and COMPLETED before (2) started.
// Order is the line order of the trace file: strace writes a line when a
// call enters (or completes) in the tracee, so a call that finished in one
// thread before another thread began a call is always on an earlier line.

const HEX_STRING = /"((?:\\x[0-9a-f]{2})*)"/g;

function decodeHex(text) {
    const out = Buffer.alloc(text.length / 4);
    for (let i = 0, j = 0; i < text.length; i += 4, j++) out[j] = parseInt(text.slice(i + 2, i + 4), 16);
    return out;
}

// The first argument's fd and its -y path (`5<\x2f\x74...>`), decoded.
function firstFd(args) {
    const m = /^(\d+)<((?:\\x[0-9a-f]{2})*)>/.exec(args);
    if (!m) return { fd: null, path: null };
    return { fd: Number(m[1]), path: decodeHex(m[2]).toString('latin1') };
}

// Every quoted (hex) string in the argument text, concatenated: the bytes a
// write-like call carried (writev/sendmsg list several iov_base strings).
function dataOf(args) {
    const parts = [];
    for (const m of args.matchAll(HEX_STRING)) parts.push(decodeHex(m[1]));
    return Buffer.concat(parts);
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;
const UNFINISHED = /^([a-z0-9_]+)\((.*) <unfinished \.\.\.>$/;
const RESUMED = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)\)\s+=\s+(-?\d+|\?)(.*)$/;
const COMPLETE = /^([a-z0-9_]+)\((.*)\)\s+=\s+(-?\d+|\?)(.*)$/;

// Parses a trace into calls {pid, name, fd, path, args, ret, start, end}
// where start and end are line numbers (equal for a call on one line).
export function parseTrace(text) {
    const calls = [];
    const open = new Map(); // pid -> {name, args, start}
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
        const lm = LINE.exec(lines[i]);
        if (!lm) continue;
        const pid = Number(lm[1]);
        const rest = lm[3];
        let m;
        if ((m = UNFINISHED.exec(rest))) {
            open.set(pid, { name: m[1], args: m[2], start: i });
        } else if ((m = RESUMED.exec(rest))) {
            const begun = open.get(pid);
            open.delete(pid);
            if (!begun || begun.name !== m[1]) continue;
            const args = begun.args + m[2];
            calls.push({ pid, name: m[1], ...firstFd(args), args, ret: Number(m[3]), start: begun.start, end: i });
        } else if ((m = COMPLETE.exec(rest))) {
            calls.push({ pid, name: m[1], ...firstFd(m[2]), args: m[2], ret: Number(m[3]), start: i, end: i });
        }
    }
    calls.sort((a, b) => a.start - b.start);
    return calls;
}

const SEND_CALLS = new Set(['sendto', 'write', 'writev', 'sendmsg']);
const SYNC_CALLS = new Set(['fsync', 'fdatasync']);

// The seqs of every ack frame in a send's bytes.
function ackSeqs(bytes) {
    const text = bytes.toString('latin1');
    const out = [];
    for (const m of text.matchAll(/\{"op":"ack"[^{}]*\}/g)) {
        const s = /"seq":(\d+)/.exec(m[0]);
        if (s) out.push(Number(s[1]));
    }
    return out;
}

// Checks every {seq, marker} of `acked` against the trace. Returns
// {verdicts: [{seq, marker, verdict, detail}], walWrites, walSyncs, sends}
// with verdict one of 'ok', 'no fsync', 'no wal write', 'no ack send'.
export function checkFsyncBeforeAck(text, walPath, acked) {
    const calls = parseTrace(text);
    const walWrites = calls.filter((c) => c.name === 'pwrite64' && c.path === walPath && c.ret > 0)
        .map((c) => ({ ...c, data: dataOf(c.args.slice(c.args.indexOf(','))) }));
    const walSyncs = calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === walPath && c.ret === 0);
    const ackSend = new Map(); // seq -> first send call carrying its ack
    let sends = 0;
    for (const c of calls) {
        if (!SEND_CALLS.has(c.name) || !c.path || !c.path.startsWith('socket:')) continue;
        sends++;
        for (const seq of ackSeqs(dataOf(c.args.slice(c.args.indexOf(','))))) {
            if (!ackSend.has(seq)) ackSend.set(seq, c);
        }
    }
    const verdicts = acked.map(({ seq, marker }) => {
        const write = walWrites.find((w) => w.data.includes(marker));
        if (!write) return { seq, marker, verdict: 'no wal write', detail: `no WAL write holds ${marker}` };
        const send = ackSend.get(seq);
        if (!send) return { seq, marker, verdict: 'no ack send', detail: `no send carries the ack of seq ${seq}` };
        const sync = walSyncs.find((s) => s.start > write.end && s.end < send.start);
        if (!sync) {
            return {
                seq, marker, verdict: 'no fsync',
                detail: `seq ${seq}: WAL write done at line ${write.end + 1}, ack sent at line ` +
                    `${send.start + 1}, no completed fsync of the WAL in between`,
            };
        }
        return { seq, marker, verdict: 'ok', detail: `fsync lines ${sync.start + 1}-${sync.end + 1}` };
    });
    return { verdicts, walWrites: walWrites.length, walSyncs: walSyncs.length, sends };
}
