#!/usr/bin/env python3
"""Records real terminal programs for the conformance test, as asciicast v2 files.

Each program runs under `asciinema rec --stdin` inside a tmux pane of 80x24: the
program's output bytes are recorded as it wrote them, tmux answers its queries (device
attributes, cursor position) as a terminal would, and every key this script sends is
recorded as an "i" event. The conformance test compares screens just before each key
press, when the program is waiting for it.

    terminal/conformance/record.py [NAME...]     # default: every session below

Writes terminal/conformance/casts/NAME.cast. Needs tmux, asciinema and the programs
(scripts/test installs them). The casts are committed: the test replays these bytes,
so re-record only to add or change a session, and look at the result.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASTS = os.path.join(HERE, "casts")
SOCKET = f"gatehouse-record-{os.getpid()}"
MAIN_MENU = "Enter choice number (0 - 12)"


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], check=check,
                          capture_output=True, text=True)


def screen():
    result = tmux("capture-pane", "-p", "-t", "rec", check=False)
    return result.stdout if result.returncode == 0 else None


def alive():
    return tmux("has-session", "-t", "rec", check=False).returncode == 0


def settle(quiet=0.35, limit=8.0):
    """Waits until the pane has not changed for `quiet` seconds; returns its text."""
    last, since, start = None, time.time(), time.time()
    while time.time() - start < limit:
        now = screen()
        if now is None:
            return None
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return now
        time.sleep(0.05)
    return last


def send(*keys):
    tmux("send-keys", "-t", "rec", *keys)


def start(name, command, cols=80, rows=24):
    cast = os.path.join(CASTS, f"{name}.cast")
    home = tempfile.mkdtemp(prefix="gh-record-")
    env = f"env -i HOME={home} PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 COLORTERM=truecolor"
    inner = f"{env} {command}"
    rec = f"asciinema rec --stdin --quiet --overwrite --cols {cols} --rows {rows} -c {shquote(inner)} {shquote(cast)}"
    tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), "-s", "rec", rec)
    tmux("set-option", "-t", "rec", "status", "off")
    return cast, home


def finish(cast, home, limit=10.0):
    start_at = time.time()
    while alive() and time.time() - start_at < limit:
        time.sleep(0.1)
    tmux("kill-server", check=False)
    shutil.rmtree(home, ignore_errors=True)
    print(f"wrote {os.path.relpath(cast)}")


def shquote(text):
    return "'" + text.replace("'", "'\\''") + "'"


PROMPT = re.compile(r"Enter choice number \(0 - (\d+)\)")
TITLE = re.compile(r"^\s*(Menu [\d.]+:.*?)\s*$", re.M)
# Items that wait for a person (typing, clicking), change vttest's own settings, or
# leave the terminal in a state the rest of the run does not expect.
SKIP = re.compile(r"(?i)keyboard|mouse|answerback|printer|bell|LED|reset|VT52|setup|"
                  r"send/receive|locator|tek|window|font|exit|modify|setting|enable|disable|"
                  r"toggle|switch|emulation|level|title|color test pattern|user-defined|DECUDK|"
                  r"soft character|DECDLD|8-bit|printer|DECRQSS|status line|rectangular|paste|focus")


def menu_title(text):
    found = TITLE.search(text or "")
    return found.group(1) if found else "main"


def walk(depth=0, budget=None):
    """At a vttest menu: runs each item that does not wait for a person, pressing Return
    through its screens and walking submenus (two levels at most), then comes back."""
    budget = budget if budget is not None else [250]
    text = screen() or ""
    here = menu_title(text)
    prompt = PROMPT.search(text)
    last = int(prompt.group(1)) if prompt else 0
    for choice in range(1, last + 1):
        text = screen() or ""
        line = re.search(rf"^\s*{choice}\.\s+(.*)$", text, re.M)
        label = line.group(1).strip() if line else ""
        if not label or SKIP.search(label):
            continue
        send(str(choice), "Enter")
        for _ in range(30):
            if budget[0] <= 0:
                return
            budget[0] -= 1
            text = settle()
            if text is None:
                return
            if PROMPT.search(text):
                if menu_title(text) == here:
                    break
                if depth < 2:
                    walk(depth + 1, budget)
                send("0", "Enter")
                settle()
                break
            send("Enter")


def vttest_menu(choice):
    """Runs one vttest main-menu entry through its screens and submenus."""
    send(str(choice), "Enter")
    for _ in range(80):
        text = settle()
        if text is None or MAIN_MENU in text:
            return
        if PROMPT.search(text):
            walk(depth=1)
            send("0", "Enter")
            continue
        send("Enter")


def vttest(name, menus):
    cast, home = start(name, "vttest")
    settle(quiet=0.5)
    for menu in menus:
        vttest_menu(menu)
    send("0", "Enter")
    finish(cast, home)


def program(name, command, keys, quiet=0.6):
    """Runs `command`, waits for it to settle, then sends each entry of `keys` (tmux
    send-keys arguments), settling after each."""
    cast, home = start(name, command)
    settle(quiet=quiet)
    for step in keys:
        send(*step)
        settle(quiet=quiet)
    finish(cast, home)


SESSIONS = {
    "vttest-1-cursor": lambda: vttest("vttest-1-cursor", [1]),
    "vttest-2-screen": lambda: vttest("vttest-2-screen", [2]),
    "vttest-3-charsets": lambda: vttest("vttest-3-charsets", [3]),
    "vttest-6-reports": lambda: vttest("vttest-6-reports", [6]),
    "vttest-8-vt102": lambda: vttest("vttest-8-vt102", [8]),
    "vttest-11-xterm": lambda: vttest("vttest-11-xterm", [11]),
    "dialog": lambda: program("dialog", "dialog --title 'Gatehouse' --yesno 'Draw a box with the DEC line-drawing set?' 8 50",
                              [["Tab"], ["Enter"]]),
    "whiptail": lambda: program("whiptail", "whiptail --title 'Pick one' --menu 'Which?' 14 50 4 a Alpha b Beta c Gamma d Delta",
                                [["Down"], ["Down"], ["Enter"]]),
    "mc": lambda: program("mc", "mc --nosubshell /usr/share", [["Down"], ["Down"], ["Tab"], ["F10"]], quiet=1.0),
    "tmux": lambda: program("tmux", "tmux -f /dev/null -L gh-inner new-session 'printf \"left pane\\n\"; sleep 30'",
                            [["C-b", "%"], ["echo right-pane", "Enter"], ["C-b", '"'], ["echo bottom", "Enter"], ["C-b", "d"]],
                            quiet=0.8),
    "htop": lambda: program("htop", "htop -d 100", [["F6"], ["Escape"], ["q"]], quiet=1.0),
    "vim-splits": lambda: program("vim-splits", "vim -u NONE -N -c 'syntax on' -c 'split' -c 'vsplit' /usr/share/common-licenses/GPL-3",
                                  [["C-w", "w"], ["G"], [":q!", "Enter"], [":q!", "Enter"], [":q!", "Enter"]]),
    "less": lambda: program("less", "less /usr/share/common-licenses/GPL-3", [["Space"], ["/", "warranty", "Enter"], ["q"]]),
    "man": lambda: program("man", "man ls", [["Space"], ["q"]]),
    "git-log-graph": lambda: program("git-log-graph",
                                     "sh -c 'cd /work/main && git log --graph --oneline --color=always -n 40 --all | cat; sleep 1'", []),
    "colours": lambda: program("colours", "sh -c '" + colours_script() + "; sleep 1'", []),
    "wide-and-combining": lambda: program("wide-and-combining",
                                          "sh -c 'printf \"CJK: 日本語の文字 한국어 中文\\nemoji: 🙂 🚀 👍🏽 ✅\\ncombining: e\\314\\201 a\\314\\210 n\\314\\203 (é ä ñ)\\nwide at the edge: 0123456789012345678901234567890123456789012345678901234567890123456789012345678日本\\n\"; sleep 1'",
                                          []),
}


def colours_script():
    # 256 colours, then a true-colour ramp, with SGR attributes.
    return ("for i in $(seq 0 255); do printf \"\\033[48;5;%sm%4s\" $i $i; [ $(( (i+1) % 16 )) -eq 0 ] && printf \"\\033[0m\\n\"; done; "
            "for i in $(seq 0 8 255); do printf \"\\033[38;2;%s;%s;%sm#\" $i $((255-i)) 128; done; printf \"\\033[0m\\n\"; "
            "printf \"\\033[1mbold\\033[0m \\033[3mitalic\\033[0m \\033[4munderline\\033[0m \\033[7minverse\\033[0m \\033[2mdim\\033[0m\\n\"")


def main():
    os.makedirs(CASTS, exist_ok=True)
    names = sys.argv[1:] or list(SESSIONS)
    for name in names:
        SESSIONS[name]()


if __name__ == "__main__":
    main()
