# numaksm-bench ksm: gnuplot plot.gp (in this directory) redraws the plots.
set datafile separator ','
set terminal pngcairo size 900,540 font ',10'
set key bottom right
set grid
set logscale x
set xrange [0.25:*]
set xlabel 'seconds since the strategy started (log scale)'
strategies = 'defaults ksmtuned advisor numaksm'
set style line 1 lc rgb '#1b9e77' lw 2
set style line 2 lc rgb '#d95f02' lw 2
set style line 3 lc rgb '#7570b3' lw 2
set style line 4 lc rgb '#e7298a' lw 3
f(s, v) = (strcol(2) eq s && column(1) == 1) ? v : NaN
set output 'saving.png'
set title 'KSM saving on 8 host-filled processes x 256 MiB (round 1)'
set ylabel '% of the achievable saving (1138 MiB)'
set yrange [0:105]
plot 95 title '95%' lc rgb 'gray' dt 2, \
  for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $5)) with lines ls i title word(strategies, i)
set output 'cpu.png'
unset title
set multiplot layout 2,1 title 'ksmd CPU (round 1)'
set yrange [0:*]
set key top left
unset xlabel
set title 'ksmd CPU-seconds since the strategy started'
set ylabel 'CPU-s'
plot for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $7)) with lines ls i title word(strategies, i)
set title 'ksmd share of one CPU, mean over 5 s'
set ylabel '%'
set yrange [0:*]
set key top right
set xlabel 'seconds since the strategy started (log scale)'
plot for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $8)) with lines ls i title word(strategies, i)
unset multiplot
