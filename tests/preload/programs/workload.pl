# Perl workload for the preload tests: hashes, regexes, sorting, string
# building. Deterministic output, compared with and without LD_PRELOAD.
use strict;
use warnings;

my @words = qw(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi);
my $x = 12345;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x; }

my %count;
my %pos;
my @text;
for my $i (0 .. 199_999) {
    my $w = $words[rnd() % @words] . (rnd() % 500);
    push @text, $w;
    $count{$w}++;
    push @{ $pos{ substr($w, 0, 3) } }, $i;
}
my $text = join(" ", @text);
my @top = (sort { $count{$b} <=> $count{$a} or $a cmp $b } keys %count)[0 .. 9];
print "distinct ", scalar(keys %count), "\n";
print "top @top\n";
for my $k (sort keys %pos) {
    my $list = $pos{$k};
    printf "%s %d %d %d\n", $k, scalar(@$list), $list->[0], $list->[-1];
}

my $digits = () = $text =~ /\d{3}/g;
(my $subst = $text) =~ s/(\w+?)(\d+)/$2$1/g;
my @caps = ($text =~ /\b(th\w*?)(\d+)\b/g);
print "digits $digits caps ", scalar(@caps), " len ", length($subst), "\n";
print "sub ", substr($subst, 0, 60), "\n";

my %inv;
while (my ($k, $v) = each %count) { push @{ $inv{$v} }, $k; }
for my $v (sort { $a <=> $b } keys %inv) {
    my @ks = sort @{ $inv{$v} };
    printf "freq %d: %d words, first %s\n", $v, scalar(@ks), $ks[0];
}

my @nums = map { rnd() % 1000000 } 1 .. 300_000;
my @sorted = sort { $a <=> $b } @nums;
my %seen;
my @uniq = grep { !$seen{$_}++ } @sorted;
print "nums $sorted[0] $sorted[-1] $sorted[150000] uniq ", scalar(@uniq), "\n";

my $s = "";
for my $i (1 .. 100_000) { $s .= chr(97 + $i % 26) x ($i % 5); }
my $n = ($s =~ tr/a-m//);
print "built ", length($s), " a-m $n\n";
my @split = split /(?<=z)/, $s;
print "split ", scalar(@split), "\n";
print "done\n";
