#!/usr/bin/env bash
# Regenerates record_counts.tsv from the reference tools.
#
#   apt-get install -y libevtx-utils python3-evtx
#   cd source/evtx/testdata && ./gen_record_counts.sh ../../../../shared/corpus > record_counts.tsv
#
# Columns: path relative to the corpus root, the number of records exported by
# libevtx's evtxexport (-f xml, allocated items only) and by python-evtx's
# evtx_dump.py. "fail" means the tool exited non-zero or timed out (the count
# of what it printed before failing follows after a colon).
set -u
root=${1:?corpus root}
cd "$root"
printf '# path\tevtxexport\tpython-evtx\n'
find evtx-attack-samples hayabusa-sample-evtx -name '*.evtx' -type f | LC_ALL=C sort | while IFS= read -r f; do
	a=$(timeout 300 evtxexport -f xml "$f" 2>/dev/null | grep -c '^<Event xmlns'); rc=${PIPESTATUS[0]}
	[ "$rc" -ne 0 ] && a="fail:$a"
	b=$(timeout 300 evtx_dump.py "$f" 2>/dev/null | grep -c '^<Event xmlns'); rc=${PIPESTATUS[0]}
	[ "$rc" -ne 0 ] && b="fail:$b"
	printf '%s\t%s\t%s\n' "$f" "$a" "$b"
done
