"""The loopback server shared by the stand-ins and the fault proxy."""

from __future__ import annotations

import http.client
import socket

from simulator.local_cloud.loopback import HttpRequest, HttpResponse, LoopbackServer


class Echo(LoopbackServer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        super().__init__()

    def respond(self, request: HttpRequest) -> HttpResponse:
        self.seen.append((request.method, request.path, request.body))
        return HttpResponse(201, request.body[::-1], [("X-Seen", str(len(self.seen)))])


def test_requests_on_one_kept_alive_connection_get_their_answers() -> None:
    with Echo() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        answers = []
        for body in (b"abc", b"", b"0123456789"):
            connection.request("PUT", "/a/b?c=d", body=body)
            response = connection.getresponse()
            answers.append((response.status, response.read(), response.getheader("X-Seen")))
        connection.close()

    assert answers == [(201, b"cba", "1"), (201, b"", "2"), (201, b"9876543210", "3")]
    assert server.seen == [
        ("PUT", "/a/b?c=d", b"abc"),
        ("PUT", "/a/b?c=d", b""),
        ("PUT", "/a/b?c=d", b"0123456789"),
    ]
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"


def test_a_caller_that_hangs_up_does_not_stop_the_server() -> None:
    with Echo() as server:
        with socket.create_connection(("127.0.0.1", server.port)) as rude:
            rude.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/after")
        assert connection.getresponse().status == 201
        connection.close()


def test_stop_closes_the_port() -> None:
    server = Echo().start()
    port = server.port
    server.stop()

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
