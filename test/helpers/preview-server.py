# The server the preview tests start inside a sandbox (standard library only).
# GET|POST|PUT|DELETE|HEAD /echo…  → JSON {method, path, headers, body_sha256, body_bytes}; any other path echoes too
# GET /big?n=N → N bytes (bytes 0..255 repeated) with Content-Length
# GET /redirect → 302 to /echo?from=redirect     GET /cookies → Set-Cookie a, the preview cookie, b
# GET /slow → never answers                       GET /break → promises 4 MiB, sends 1 MiB, hangs up
# GET with Upgrade: websocket → RFC 6455 echo of every frame until a close frame
import base64, hashlib, json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def read_body(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b''):
                        pass
                    return h, n
                while size:
                    chunk = self.rfile.read(min(size, 65536))
                    h.update(chunk)
                    n += len(chunk)
                    size -= len(chunk)
                self.rfile.readline()
        left = int(self.headers.get('Content-Length', '0'))
        while left:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            left -= len(chunk)
        return h, n

    def send_json(self, obj, status=200, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('X-From-Sandbox', 'yes')
        self.send_header('Keep-Alive', 'timeout=5')
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def echo(self):
        h, n = self.read_body()
        self.send_json({
            'method': self.command,
            'path': self.path,
            'headers': [[k.lower(), v] for k, v in self.headers.items()],
            'body_sha256': h.hexdigest(),
            'body_bytes': n,
        })

    def do_POST(self):
        self.echo()

    do_PUT = do_POST
    do_DELETE = do_POST
    do_HEAD = do_POST

    def do_GET(self):
        path = self.path.split('?')[0]
        if self.headers.get('Upgrade', '').lower() == 'websocket':
            return self.websocket()
        if path == '/big':
            return self.big(int(self.path.split('n=')[1]))
        if path == '/redirect':
            self.send_response(302)
            self.send_header('Location', '/echo?from=redirect')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if path == '/cookies':
            return self.send_json({}, extra=[('Set-Cookie', 'a=1; Path=/'), ('Set-Cookie', 'paddock_preview_token=planted; Path=/'), ('Set-Cookie', 'b=2')])
        if path == '/slow':
            time.sleep(600)
            return
        if path == '/break':
            self.send_response(200)
            self.send_header('Content-Length', str(4 << 20))
            self.end_headers()
            self.wfile.write(b'x' * (1 << 20))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.echo()

    def big(self, n):
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(n))
        self.end_headers()
        block = bytes(range(256)) * 256
        while n:
            k = min(n, len(block))
            self.wfile.write(block[:k])
            n -= k

    def websocket(self):
        accept = base64.b64encode(hashlib.sha1((self.headers['Sec-WebSocket-Key'] + GUID).encode()).digest()).decode()
        self.send_response(101, 'Switching Protocols')
        self.send_header('Upgrade', 'websocket')
        self.send_header('Connection', 'Upgrade')
        self.send_header('Sec-WebSocket-Accept', accept)
        self.send_header('X-Seen-Path', self.path)
        self.send_header('X-Seen-Authorization', self.headers.get('Authorization', '-'))
        self.send_header('X-Seen-Cookie', self.headers.get('Cookie', '-'))
        self.end_headers()
        self.wfile.flush()
        r = self.rfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                break
            op, n = head[0] & 15, head[1] & 127
            if n == 126:
                n = int.from_bytes(r.read(2), 'big')
            elif n == 127:
                n = int.from_bytes(r.read(8), 'big')
            mask = r.read(4) if head[1] & 128 else b'\0\0\0\0'
            data = bytearray(r.read(n))
            for i in range(n):
                data[i] ^= mask[i & 3]
            if n < 126:
                out = bytes([0x80 | op, n])
            elif n < 65536:
                out = bytes([0x80 | op, 126]) + n.to_bytes(2, 'big')
            else:
                out = bytes([0x80 | op, 127]) + n.to_bytes(8, 'big')
            self.wfile.write(out + bytes(data))
            self.wfile.flush()
            if op == 8:
                break
        self.close_connection = True


ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
