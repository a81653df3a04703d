# SPDX-License-Identifier: LGPL-2.1-or-later
"""A delay line: a TCP proxy on 127.0.0.1 that adds half of a round trip
each way, so that a client on loopback sees a distant server.

    from delayline import DelayLine
    line = DelayLine("127.0.0.1", server_port)   # listens on 127.0.0.1:line.port
    line.set_rtt(0.100)                          # for the connections made from now on
    ...                                          # point the client at line.port
    n, offers = line.take()                      # connections since the last take()
    line.stop()

What it emulates, per connection (times relative to the client's connect):
- the TCP handshake: the client's connect() on loopback returns at once, so
  nothing it sends is passed on before 1 RTT (when, over a real network,
  its SYN-ACK would have come back and it could first send), then + RTT/2;
- every chunk read from either side is written to the other side RTT/2
  after it was read, in the order read, each direction on its own; an end
  of stream (shutdown) travels the same way.
So a TLS 1.3 request on a new connection costs 3 RTT (TCP, TLS, request),
one more request on it 1 RTT, and N requests in flight at once 1 RTT.

It counts the connections it carries, and reads the ALPN protocols each
client offered from its TLS ClientHello (sent in clear; the server's choice
is encrypted under TLS 1.3, so it cannot be read here).

Standard library only (asyncio, in a thread of its own). Also a program:
    python3 delayline.py --to HOST:PORT [--listen PORT] [--rtt-ms 100]
"""

import argparse
import asyncio
import struct
import sys
import threading

# How much of a connection's first bytes are kept to find its ClientHello.
SNIFF_MAX = 16384


def client_hello_alpn(data):
    """The ALPN protocol names offered in the TLS ClientHello at the start of
    data, as a list; [] when it offers none; None when data does not start
    with a whole ClientHello record."""
    try:
        if len(data) < 5 or data[0] != 22:  # handshake record
            return None
        rec_len = struct.unpack(">H", data[3:5])[0]
        body = data[5:5 + rec_len]
        if len(body) < rec_len or body[0] != 1:  # ClientHello
            return None
        hs_len = int.from_bytes(body[1:4], "big")
        hello = body[4:4 + hs_len]
        if len(hello) < hs_len:
            return None
        pos = 2 + 32  # legacy version, random
        pos += 1 + hello[pos]  # session id
        pos += 2 + struct.unpack(">H", hello[pos:pos + 2])[0]  # cipher suites
        pos += 1 + hello[pos]  # compression methods
        if pos >= len(hello):
            return []
        end = pos + 2 + struct.unpack(">H", hello[pos:pos + 2])[0]
        pos += 2
        while pos + 4 <= end:
            ext_type, ext_len = struct.unpack(">HH", hello[pos:pos + 4])
            pos += 4
            if ext_type == 16:  # application_layer_protocol_negotiation
                ext = hello[pos + 2:pos + ext_len]
                names, i = [], 0
                while i < len(ext):
                    n = ext[i]
                    names.append(ext[i + 1:i + 1 + n].decode("ascii", "replace"))
                    i += 1 + n
                return names
            pos += ext_len
        return []
    except (IndexError, struct.error):
        return None


class DelayLine:
    """The proxy, listening on 127.0.0.1:self.port, forwarding to host:port."""

    def __init__(self, host, port, rtt=0.0, listen_port=0):
        self.host, self.port_to = host, port
        self.listen_port = listen_port
        self.rtt = rtt
        self.port = None
        self._lock = threading.Lock()
        self._count = 0
        self._offers = []
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._writers = set()  # every open connection's writers, for stop()
        ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        if self._error is not None or self.port is None:
            raise RuntimeError("delay line did not start: %s" % self._error)

    def set_rtt(self, rtt):
        """The round trip (seconds) added to every connection accepted from now on."""
        self.rtt = float(rtt)

    def take(self):
        """(connections accepted, [ALPN offer of each]) since the last call; an
        offer is a list of names, or None if no ClientHello was seen."""
        with self._lock:
            count, offers = self._count, self._offers
            self._count, self._offers = 0, []
        return count, offers

    def stop(self):
        """Closes the listener and every connection (data still on the line is
        dropped), then ends the thread; idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def _run(self, ready):
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", self.listen_port, backlog=256))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:
            self._error = e
            ready.set()
            return
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._shutdown())

    async def _shutdown(self):
        """Stops accepting, aborts every connection, and waits for their tasks."""
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        me = asyncio.current_task()
        for _ in range(2):
            tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not tasks:
                return
            _, pending = await asyncio.wait(tasks, timeout=2)
            for t in pending:
                t.cancel()

    async def _serve(self, creader, cwriter):
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        rtt = self.rtt
        with self._lock:
            self._count += 1
            slot = len(self._offers)
            self._offers.append(None)
        self._writers.add(cwriter)
        swriter = None
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.port_to)
            self._writers.add(swriter)
            peers = (cwriter, swriter)
            await asyncio.gather(self._pump(creader, swriter, rtt / 2, accepted + rtt, peers, slot),
                                 self._pump(sreader, cwriter, rtt / 2, 0.0, peers, None),
                                 return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass  # no server, or stop(): the connection ends with the line
        finally:
            for w in (cwriter, swriter):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    def _offer(self, slot, data):
        with self._lock:
            if slot < len(self._offers):
                self._offers[slot] = client_hello_alpn(data)

    async def _pump(self, reader, writer, half, not_before, peers, slot):
        """Copies reader to writer, each chunk half seconds after it was read
        (and not before not_before + half), in order; on an error both
        connections are aborted."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        sniff = b"" if slot is not None else None

        async def read():
            nonlocal sniff
            while True:
                try:
                    data = await reader.read(65536)
                except (OSError, asyncio.IncompleteReadError):
                    data = b""
                if sniff is not None:
                    sniff += data
                    if client_hello_alpn(sniff) is not None or not data or len(sniff) >= SNIFF_MAX:
                        self._offer(slot, sniff)
                        sniff = None
                queue.put_nowait((max(loop.time(), not_before) + half, data))
                if not data:
                    return

        async def write():
            while True:
                when, data = await queue.get()
                wait = when - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        reading = asyncio.ensure_future(read())
        try:
            await write()
        except (OSError, ConnectionError):
            for w in peers:
                w.transport.abort()
        finally:
            reading.cancel()


def main(argv=None):
    ap = argparse.ArgumentParser(description="a TCP proxy on 127.0.0.1 adding RTT/2 each way")
    ap.add_argument("--to", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    ap.add_argument("--rtt-ms", type=float, default=100.0)
    args = ap.parse_args(argv)
    host, port = args.to.rsplit(":", 1)
    line = DelayLine(host, int(port), args.rtt_ms / 1000.0, args.listen)
    print("delay line: 127.0.0.1:%d -> %s, RTT %g ms" % (line.port, args.to, args.rtt_ms), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    line.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
