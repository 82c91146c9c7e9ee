#!/usr/bin/env bash
# Records the terminal fixtures with real recorders (Debian asciinema 2.2 and
# util-linux script) under tmux: colours, `ls --color`, CJK text, a
# full-screen program (less) on the alternate screen, and a window resize
# (which asciinema 2.2, like KoKo, does not record: only the wider output shows it).
#   tests/terminal/record.sh OUT_DIR
set -euo pipefail
out=${1:?usage: record.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd) # section 1b records from another directory
work=$(mktemp -d)
trap 'rm -rf "$work"; tmux kill-session -t vw-rec 2>/dev/null || true' EXIT
printf '第一行 中文文本 日本語 かな 한국어\nplain ascii line\n' >"$work/cjk.txt"
seq 1 200 | sed 's/^/line /' >"$work/long.txt"
mkdir -p "$work/dir" && touch "$work/dir/file.txt" "$work/dir/script.sh" && chmod +x "$work/dir/script.sh" && mkdir -p "$work/dir/sub"

# 1. Non-interactive: colours, ls --color, CJK (asciinema records without a terminal).
cat >"$work/colours.sh" <<'SH'
printf '\033[31mred\033[0m \033[1;32mbold green\033[0m \033[4munderline\033[0m \033[7minverse\033[0m\n'
printf '\033[38;5;208m256-colour orange\033[0m \033[38;2;10;200;250mtruecolor\033[0m\n'
ls --color=always -l "$1/dir" | tail -n +2
sleep 0.3
cat "$1/cjk.txt"
sleep 0.3
printf 'box: \342\224\214\342\224\200\342\224\220 blocks: \342\226\210\342\226\204\342\226\200\n'
SH
TERM=xterm-256color asciinema rec -q --overwrite --cols 80 --rows 24 -c "bash $work/colours.sh $work" "$out/colours.cast" </dev/null >/dev/null

# 1b. A Chinese work session (for the OCR and hinting tests): a file with
#     Chinese text, Chinese file names, commit messages, an echo.
mkdir -p "$work/zh" && cd "$work/zh"
cat >部署说明.txt <<'TXT'
一、安装前请确认服务器的操作系统版本和磁盘空间。
二、下载安装包后解压到指定目录，然后运行配置脚本。
三、修改数据库地址、端口和密码，保存后重启服务。
四、登录管理后台，添加用户并分配相应的资产权限。
五、如果连接失败，请检查防火墙规则与网络是否正常。
TXT
mkdir -p 备份 日志 文档 && touch 配置文件.yml README.md
cat >"$work/zh.sh" <<'SH'
run() { printf '$ %s\n' "$*"; sleep 0.2; eval "$@"; sleep 0.3; }
run cat 部署说明.txt
run ls
printf '$ git log --oneline -3\n'; sleep 0.2
printf 'a1b2c3d 修复会话录像转换时中文显示为方框的问题\n'
printf 'e4f5a6b 增加终端录像的字体回退与宽字符支持\n'
printf '0c9d8e7 更新文档：安装步骤和常见问题\n'
sleep 0.3
run echo "任务完成，共处理 128 个文件，用时 35 秒"
SH
TERM=xterm-256color LANG=C.UTF-8 asciinema rec -q --overwrite --cols 80 --rows 24 -c "bash $work/zh.sh" "$out/chinese.cast" </dev/null >/dev/null
cd - >/dev/null

# 2. Interactive under tmux: less on the alternate screen, then a resize while it runs.
tmux new-session -d -s vw-rec -x 80 -y 24 \
  "TERM=xterm-256color asciinema rec -q --overwrite -c 'bash --norc --noprofile' $out/fullscreen.cast"
sleep 1
tmux send-keys -t vw-rec "export PS1='$ '; cat $work/cjk.txt" Enter
sleep 0.5
tmux send-keys -t vw-rec "less -S $work/long.txt" Enter
sleep 0.8
tmux send-keys -t vw-rec " "
sleep 0.5
tmux send-keys -t vw-rec "q"
sleep 0.5
tmux send-keys -t vw-rec "vim -u NONE -n $work/cjk.txt" Enter
sleep 1
tmux resize-window -t vw-rec -x 110 -y 30
sleep 1
tmux send-keys -t vw-rec ":q" Enter
sleep 0.5
tmux send-keys -t vw-rec "exit" Enter
for _ in $(seq 50); do tmux has-session -t vw-rec 2>/dev/null || break; sleep 0.1; done

# 3. A typescript from util-linux script.
script -q --timing="$out/session.typescript.timing" -c "bash $work/colours.sh $work" "$out/session.typescript" </dev/null >/dev/null

# 3b. PyPI asciinema 2.4 records window changes as "r" events: a resize while
#     vim runs (optional: skipped when that asciinema is not installed).
asciinema24="${ASCIINEMA24:-$HOME/.cache/video-worker/tools/asciinema-venv/bin/asciinema}"
if [ -x "$asciinema24" ]; then
  tmux new-session -d -s vw-rec -x 80 -y 24 \
    "TERM=xterm-256color $asciinema24 rec -q --overwrite -c 'bash --norc --noprofile' $out/resize.cast"
  sleep 1
  tmux send-keys -t vw-rec "export PS1='$ '; vim -u NONE -n $work/cjk.txt" Enter
  sleep 1
  tmux resize-window -t vw-rec -x 110 -y 30
  sleep 1
  tmux send-keys -t vw-rec ":q" Enter
  sleep 0.5
  tmux send-keys -t vw-rec "seq -s ' ' 1 60" Enter
  sleep 0.5
  tmux send-keys -t vw-rec "exit" Enter
  for _ in $(seq 50); do tmux has-session -t vw-rec 2>/dev/null || break; sleep 0.1; done
fi

# 4. The other shapes of the same sessions: KoKo's exact asciicast, its old
#    JSON replay, asciicast v1 and v3, guacd's typescript, core's .tar download.
python3 "$(dirname "$0")/shapes.py" "$out"
