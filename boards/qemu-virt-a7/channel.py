#!/usr/bin/env python3
"""The host end of the qemu-virt-a7 service channel: one relay per guest
TCP connection.

run-vm.sh --port PORT gives QEMU user networking with restrict=on and
    guestfwd=tcp:10.0.2.100:80-cmd:python3 channel.py PORT
For every TCP connection the guest opens to 10.0.2.100:80, QEMU (libslirp)
starts this program with that connection on its standard input and output
(a socket; standard error is the same socket). It connects to 127.0.0.1:PORT
-- the only address it ever connects to -- and copies bytes both ways until
both directions are closed, passing a half-close on (an HTTP client may shut
down its sending side and still read the answer).

Why not guestfwd=...-tcp:127.0.0.1:PORT: that form is one chardev, opened
once when QEMU starts, and carries one guest connection per VM run; a
second connection in the same boot is never served. The command form runs
one process per connection (verified: the VM suite fetches twice in one
boot; the agent keeps one keep-alive connection per cycle, but a retry after
a lost connection needs a new one).

It writes nothing of its own to the guest: if 127.0.0.1:PORT refuses, the
guest's connection is closed (the agent sees a failed request and backs
off). Standard library only.
"""
import os
import select
import socket
import sys


def main():
    # Whatever goes wrong must not reach the guest as text on the socket.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    if len(sys.argv) != 2:
        return 2
    port = int(sys.argv[1])
    if not 0 < port < 65536:
        return 2
    try:
        up = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return 1
    up.settimeout(None)
    guest_in, guest_out = 0, 1
    open_in, open_up = True, True   # guest -> service, service -> guest
    while open_in or open_up:
        watch = ([guest_in] if open_in else []) + ([up] if open_up else [])
        try:
            ready, _, _ = select.select(watch, [], [], 300)
        except InterruptedError:
            continue
        if not ready:
            return 1  # 5 minutes without a byte either way: give up
        if guest_in in ready:
            data = os.read(guest_in, 65536)
            if data:
                up.sendall(data)
            else:
                open_in = False
                try:
                    up.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if up in ready:
            try:
                data = up.recv(65536)
            except ConnectionResetError:
                data = b""
            if data:
                view = memoryview(data)
                while view:
                    view = view[os.write(guest_out, view):]
            else:
                open_up = False
                try:
                    socket.socket(fileno=os.dup(guest_out)).shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError):
        sys.exit(1)
