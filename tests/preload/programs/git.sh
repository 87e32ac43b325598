# git workload for the preload tests: init, add, commit, branch, merge,
# log, diff, blame, repack, fsck — with fixed identities and dates so that
# every hash and every line is reproducible. Run by sh in an empty directory.
set -eu
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME="$PWD"
export GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat PAGER=cat
t=1600000000
tick() { t=$((t + 3600)); export GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$t +0000"; }

git -c init.defaultBranch=main init -q repo
cd repo
git config gc.auto 0
git config maintenance.auto false
git config core.autocrlf false

i=0
while [ $i -lt 60 ]; do
    mkdir -p "dir$((i % 6))"
    j=0
    : > "dir$((i % 6))/file$i.txt"
    while [ $j -lt $((20 + i)) ]; do
        echo "line $j of file $i: $(( (i * 7919 + j * 104729) % 100003 ))" >> "dir$((i % 6))/file$i.txt"
        j=$((j + 1))
    done
    i=$((i + 1))
done
tick; git add -A; git commit -q -m "initial import of 60 files"

n=1
while [ $n -le 8 ]; do
    k=$n
    while [ $k -lt 60 ]; do
        sed -i "s/line $n of/LINE $n (edited $n) of/" "dir$((k % 6))/file$k.txt"
        k=$((k + 7))
    done
    tick; git commit -q -am "edit round $n"
    n=$((n + 1))
done

git checkout -q -b feature HEAD~3
echo "feature work" > feature.txt
git rm -q dir1/file1.txt
tick; git add -A; git commit -q -m "feature: add feature.txt, drop file1"
git checkout -q main
tick; git merge -q --no-edit feature

git log --format='%H %an <%ae> %ad %s' --date=iso-strict
git log --stat --format='commit %h%n%B' -5
git diff --stat HEAD~5 HEAD
git diff HEAD~2 HEAD -- dir3 | head -n 200
git blame -s dir2/file8.txt | head -n 40
git show --format='%T %P' -s HEAD
git ls-tree -r HEAD | head -n 50
git cat-file -p HEAD
git rev-list --count --all
git repack -a -d -q
git count-objects -v | grep -E '^(count|in-pack|packs)'
git fsck --no-progress --full
git grep -c "edited" | sort | head -n 20
git tag -a v1 -m "release v1"
git describe --tags
echo "git done"
