// A JeroMQ 0.3.6 peer (ZMTP/2.0 only) driven line by line, for tests/test_jeromq.py.
//
// One command a line on stdin, exactly one answer line on stdout: "ok ...", "err ...", or for
// recv "msg FRAMES" / "timeout". FRAMES is a comma-separated list of hex frames, "-" standing
// for an empty frame (so [b"", b"a", b""] is "-,61,-"). One socket at a time.
//
//   socket TYPE                 PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB
//   setsockopt NAME VALUE       identity HEX | router_mandatory 0/1 | rcvtimeo MS | sndtimeo MS
//   subscribe HEX|-             unsubscribe HEX|-
//   bind EP                     answers "ok ENDPOINT" (a "*" port replaced by the real one)
//   connect EP
//   send FRAMES
//   recv [TIMEOUT_MS]           "msg FRAMES" or "timeout"
//   sendmany N SIZE             N single-frame messages: payload(i, SIZE), see below
//   recvmany N SIZE             N messages that must be payload(0..N-1, SIZE), in order
//   echo N                      receive N messages, sending each back as it came
//   close                       close the socket
//   quit
//
// payload(i, size): the 8-byte big-endian index i, then octet k (k >= 8) = (k + i) % 251.
// Blocking calls time out after 10 s (rcvtimeo / sndtimeo) and answer "err", so a peer that
// never comes fails the command instead of hanging the test.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.zeromq.ZMQ;
import org.zeromq.ZMQException;

public final class ScriptPeer {
    static final int TIMEOUT_MS = 10_000;
    static final HexFormat HEX = HexFormat.of();

    final ZMQ.Context ctx = ZMQ.context(1);
    ZMQ.Socket sock;

    public static void main(String[] args) throws Exception {
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.US_ASCII);
        ScriptPeer peer = new ScriptPeer();
        for (String line; (line = in.readLine()) != null; ) {
            String answer;
            try {
                answer = peer.run(line.trim().split(" "));
            } catch (ZMQException e) {
                // 0.3.6 has no names for most codes (ZError.toString gives "")
                int code = e.getErrorCode();
                answer = "err " + (code == zmq.ZError.EHOSTUNREACH ? "EHOSTUNREACH" : "errno " + code);
            } catch (Exception e) {
                answer = "err " + e.toString().replace('\n', ' ');
            }
            out.println(answer);
            out.flush();
            if (line.trim().equals("quit")) {
                break;
            }
        }
        peer.close();
        peer.ctx.term();
    }

    String run(String[] a) throws Exception {
        switch (a[0]) {
            case "socket":
                close();
                sock = ctx.socket(ZMQ.class.getField(a[1]).getInt(null));
                sock.setLinger(0);
                sock.setReceiveTimeOut(TIMEOUT_MS);
                sock.setSendTimeOut(TIMEOUT_MS);
                return "ok";
            case "setsockopt":
                switch (a[1]) {
                    case "identity": sock.setIdentity(frame(a[2])); break;
                    case "router_mandatory": sock.setRouterMandatory(a[2].equals("1")); break;
                    case "rcvtimeo": sock.setReceiveTimeOut(Integer.parseInt(a[2])); break;
                    case "sndtimeo": sock.setSendTimeOut(Integer.parseInt(a[2])); break;
                    default: return "err unknown option " + a[1];
                }
                return "ok";
            case "subscribe":
                sock.subscribe(frame(a.length > 1 ? a[1] : "-"));
                return "ok";
            case "unsubscribe":
                sock.unsubscribe(frame(a.length > 1 ? a[1] : "-"));
                return "ok";
            case "bind":
                if (a[1].endsWith(":*")) {
                    String host = a[1].substring(0, a[1].length() - 2);
                    return "ok " + host + ":" + sock.bindToRandomPort(host);
                }
                sock.bind(a[1]);
                return "ok " + a[1];
            case "connect":
                sock.connect(a[1]);
                return "ok";
            case "send":
                return send(frames(a.length > 1 ? a[1] : "-")) ? "ok" : "err send timed out";
            case "recv": {
                int timeout = a.length > 1 ? Integer.parseInt(a[1]) : TIMEOUT_MS;
                sock.setReceiveTimeOut(timeout);
                try {
                    List<byte[]> msg = recv();
                    return msg == null ? "timeout" : "msg " + join(msg);
                } finally {
                    sock.setReceiveTimeOut(TIMEOUT_MS);
                }
            }
            case "sendmany": {
                int n = Integer.parseInt(a[1]), size = Integer.parseInt(a[2]);
                for (int i = 0; i < n; i++) {
                    if (!sock.send(payload(i, size), 0)) {
                        return "err send timed out at message " + i;
                    }
                }
                return "ok " + n;
            }
            case "recvmany": {
                int n = Integer.parseInt(a[1]), size = Integer.parseInt(a[2]);
                for (int i = 0; i < n; i++) {
                    List<byte[]> msg = recv();
                    if (msg == null) {
                        return "err timed out waiting for message " + i;
                    }
                    if (msg.size() != 1 || !Arrays.equals(msg.get(0), payload(i, size))) {
                        byte[] got = msg.get(0);
                        long index = got.length >= 8 ? ByteBuffer.wrap(got).getLong() : -1;
                        return "err message " + i + ": " + msg.size() + " frame(s), first "
                                + got.length + " octets with index " + index;
                    }
                }
                return "ok " + n;
            }
            case "echo": {
                int n = Integer.parseInt(a[1]);
                for (int i = 0; i < n; i++) {
                    List<byte[]> msg = recv();
                    if (msg == null) {
                        return "err timed out waiting for message " + i;
                    }
                    if (!send(msg)) {
                        return "err send timed out at message " + i;
                    }
                }
                return "ok " + n;
            }
            case "close":
            case "quit":
                close();
                return "ok";
            default:
                return "err unknown command " + a[0];
        }
    }

    void close() {
        if (sock != null) {
            sock.close();
            sock = null;
        }
    }

    boolean send(List<byte[]> msg) {
        for (int i = 0; i < msg.size(); i++) {
            if (!sock.send(msg.get(i), i < msg.size() - 1 ? ZMQ.SNDMORE : 0)) {
                return false;
            }
        }
        return true;
    }

    /** A whole message, or null if its first frame did not come within the receive timeout. */
    List<byte[]> recv() {
        byte[] first = sock.recv(0);
        if (first == null) {
            return null;
        }
        List<byte[]> msg = new ArrayList<>(List.of(first));
        while (sock.hasReceiveMore()) {
            msg.add(sock.recv(0));
        }
        return msg;
    }

    static byte[] payload(long index, int size) {
        byte[] b = new byte[size];
        ByteBuffer.wrap(b).putLong(index);
        for (int k = 8; k < size; k++) {
            b[k] = (byte) ((k + index) % 251);
        }
        return b;
    }

    static byte[] frame(String hex) {
        return hex.equals("-") ? new byte[0] : HEX.parseHex(hex);
    }

    static List<byte[]> frames(String text) {
        List<byte[]> msg = new ArrayList<>();
        for (String f : text.split(",", -1)) {
            msg.add(frame(f));
        }
        return msg;
    }

    static String join(List<byte[]> msg) {
        StringBuilder sb = new StringBuilder();
        for (byte[] f : msg) {
            sb.append(sb.length() == 0 ? "" : ",").append(f.length == 0 ? "-" : HEX.formatHex(f));
        }
        return sb.toString();
    }
}
