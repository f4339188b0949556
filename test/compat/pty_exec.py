#!/usr/bin/env python3
"""Interactive `lxc exec c1 -- sh` under a pseudo-terminal: the shell sees
the terminal's size, and a resize of the client's terminal reaches it
(SIGWINCH -> window-resize on the control websocket). Prints
"size R C / R2 C2" as the shell reported them."""
import fcntl, os, pty, re, select, signal, struct, sys, termios, time

def setsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

pid, fd = pty.fork()
if pid == 0:
    os.execvp("lxc", ["lxc", "exec", "c1", "--", "sh"])
setsize(fd, 40, 120)
buf = b""

def read_until(pattern, timeout=10):
    global buf
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, buf)
        if m:
            buf = buf[m.end():]
            return m
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    sys.exit("timed out waiting for %r; got %r" % (pattern, buf[-300:]))

time.sleep(0.5)
os.write(fd, b"echo SZ $(stty size) ZS\n")
a = read_until(rb"SZ (\d+) (\d+) ZS")
setsize(fd, 50, 132)
os.kill(pid, signal.SIGWINCH)
time.sleep(0.5)
os.write(fd, b"echo SZ $(stty size) ZS\n")
b = read_until(rb"SZ (\d+) (\d+) ZS")
os.write(fd, b"exit 0\n")
os.waitpid(pid, 0)
print("size %s %s / %s %s" % (a.group(1).decode(), a.group(2).decode(), b.group(1).decode(), b.group(2).decode()))
