#!/usr/bin/perl
# What each session of the load benchmark runs on the node (e2e/bench/load.mjs): its
# terminal in raw mode, every key echoed at once (as a shell's line editor does), and
# 1 KiB of dots printed every second (16 lines of 62 dots and CR LF), until the
# session closes. Dots, so that the only letters in the output are the echoed keys.
use strict;
use warnings;
use Time::HiRes qw(time);

system('stty', 'raw', '-echo') == 0 or die "stty failed\n";
my $block = (('.' x 62) . "\r\n") x 16;
my $next = time + 1;
while (1) {
    my $wait = $next - time;
    $wait = 0 if $wait < 0;
    my $readable = '';
    vec($readable, fileno(STDIN), 1) = 1;
    if (select($readable, undef, undef, $wait) > 0) {
        my $n = sysread(STDIN, my $keys, 4096);
        exit 0 unless $n;
        syswrite(STDOUT, $keys);
    }
    if (time >= $next) {
        syswrite(STDOUT, $block);
        $next += 1;
    }
}
