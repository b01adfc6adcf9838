# compare.gp: the chart of tests/bench/compare.sh, six panels of bars.
# Called as: gnuplot -e "dir='DATA_DIR'; out='PNG'" compare.gp
# DATA_DIR holds the .dat files and meta.gp written by compare.mjs: one row
# per group, a quoted label then one column per broker (wsbroker, Mosquitto,
# nats-server); "-" where a broker has no number.

load dir.'/meta.gp'

set terminal pngcairo size 1800,1050 font 'DejaVu Sans,11' noenhanced
set output out
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb '#dddddd'
set key top right
set xtics nomirror scale 0
set ytics nomirror
set border 3
set yrange [0:*]

c1 = '#1f77b4'; c2 = '#ff7f0e'; c3 = '#2ca02c'
# bar centres of the three series of a cluster (gap 1: 4 slots a cluster)
x1(n) = n - 0.25; x2(n) = n; x3(n) = n + 0.25
lab(v, f) = (v == v) ? sprintf(f, v) : ''
# latency labels: whole ms from 10 ms up, one decimal below
latlab(v) = (v == v) ? (v >= 10 ? sprintf('%.0f', v) : sprintf('%.1f', v)) : ''

# a panel whose scenario was not run in this run (--only, --brokers, a failure)
EMPTY = "unset logscale y; set xrange [0:1]; set yrange [0:1]; unset xtics; unset ytics; unset key; " \
      . "set label 9 'not measured in this run' at graph 0.5, graph 0.5 center; plot NaN notitle; " \
      . "unset label 9; set autoscale x; set yrange [0:*]; set xtics nomirror scale 0; set ytics nomirror; set key"

set multiplot layout 2,3 title title1."\n".title2 font ',12'

set title 'Fan-out, 100-byte messages: deliveries/s (thousands)'
set ylabel 'k deliveries/s'
set offsets 0, 0, graph 0.12, 0
if (has_fanout) {
    plot dir.'/fanout.dat' using 2:xtic(1) title 'wsbroker' lc rgb c1, \
         '' using 3 title 'Mosquitto' lc rgb c2, \
         '' using 4 title 'nats-server' lc rgb c3, \
         '' using (x1($0)):2:(lab($2,'%.0f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x2($0)):3:(lab($3,'%.0f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x3($0)):4:(lab($4,'%.0f')) with labels offset 0,0.6 font ',9' notitle
} else {
    @EMPTY
}

set title 'Fan-out: broker CPU per delivery (µs, lower is better)'
set ylabel 'µs of broker CPU per delivery'
if (has_fanout) {
    plot dir.'/fanout_cpu.dat' using 2:xtic(1) title 'wsbroker' lc rgb c1, \
         '' using 3 title 'Mosquitto' lc rgb c2, \
         '' using 4 title 'nats-server' lc rgb c3, \
         '' using (x1($0)):2:(lab($2,'%.2f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x2($0)):3:(lab($3,'%.2f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x3($0)):4:(lab($4,'%.2f')) with labels offset 0,0.6 font ',9' notitle
} else {
    @EMPTY
}

set title sprintf('Publish-to-deliver latency, %d subscribers (ms, log scale)', latency_subs)
set ylabel 'ms'
set logscale y
set yrange [lat_lo:lat_hi]
set offsets 0, 0, 0, 0
set key top left
if (has_latency) {
    plot dir.'/latency.dat' using 2:xtic(1) title 'wsbroker' lc rgb c1, \
         '' using 3 title 'Mosquitto' lc rgb c2, \
         '' using 4 title 'nats-server' lc rgb c3, \
         '' using (x1($0)):2:(latlab($2)) with labels offset 0,0.6 font ',8' notitle, \
         '' using (x2($0)):3:(latlab($3)) with labels offset 0,0.6 font ',8' notitle, \
         '' using (x3($0)):4:(latlab($4)) with labels offset 0,0.6 font ',8' notitle
    unset logscale y
    set yrange [0:*]
    set offsets 0, 0, graph 0.12, 0
} else {
    @EMPTY
}

set key top left
set bmargin 4
set offsets 0, 0, graph 0.3, 0
set title sprintf('Idle connections (%d): broker RSS per connection (KB)', idle_connections)
set ylabel 'KB per connection'
if (has_idle) {
    plot dir.'/idle.dat' using 2:xtic(1) title 'wsbroker' lc rgb c1, \
         '' using 3 title 'Mosquitto' lc rgb c2, \
         '' using 4 title 'nats-server' lc rgb c3, \
         '' using (x1($0)):2:(lab($2,'%.1f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x2($0)):3:(lab($3,'%.1f')) with labels offset 0,0.6 font ',9' notitle, \
         '' using (x3($0)):4:(lab($4,'%.1f')) with labels offset 0,0.6 font ',9' notitle
} else {
    @EMPTY
}

# durable: one bar per configuration, coloured by broker (4th column)
set offsets 0, 0, graph 0.12, 0
set label 1 'Mosquitto: no durable publish ack' at graph 0.02, graph 0.96 font ',10'
set style data boxes
set boxwidth 0.6
set key off
set xrange [-0.6:3.6]
set title sprintf('Durable publish, %d publishers x %d in flight: acks/s (thousands)', durable_pubs, durable_inflight)
set ylabel 'k acks/s'
if (has_durable) {
    plot dir.'/durable.dat' using 0:2:4:xtic(1) with boxes lc rgb variable, \
         '' using 0:2:(lab($2,'%.1f')) with labels offset 0,0.6 font ',9' notitle
} else {
    @EMPTY
}

unset label 1
set title 'Durable publish: broker CPU per ack (µs, lower is better)'
set ylabel 'µs of broker CPU per ack'
if (has_durable) {
    plot dir.'/durable.dat' using 0:3:4:xtic(1) with boxes lc rgb variable, \
         '' using 0:3:(lab($3,'%.1f')) with labels offset 0,0.6 font ',9' notitle
} else {
    @EMPTY
}

unset multiplot
