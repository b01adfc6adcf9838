# SPDX-License-Identifier: MIT
# group.sh: sourced by the bench scripts that start brokers and load
# generators in a process group of their own (compare.sh, redis_nodes.sh).
#
# group_kill PGID: SIGTERM to the whole group, up to 2 s for it to go, then
# SIGKILL to what is left, so that however a run ends nothing it started
# stays behind.
group_kill() {
    kill -TERM -- "-$1" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- "-$1" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$1" 2>/dev/null || true
}
