// What a node's Java XMPP clients do before they log in, with the JVM's
// default trust store (the one JAVA_TOOL_OPTIONS points at): open a stream,
// STARTTLS, and complete the TLS handshake verifying the certificate chain
// and that it is valid for the XMPP domain. Used by tests/cli/netns.rs.
//
// java XmppTlsCheck.java HOST PORT DOMAIN  -> "ok ..." and exit 0, or exit 1.

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

public class XmppTlsCheck {
    static String readUntil(InputStream in, String marker) throws Exception {
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new IllegalStateException("stream closed before " + marker + ": " + seen);
            }
            seen.write(b);
            String text = seen.toString(StandardCharsets.UTF_8);
            if (text.contains(marker)) {
                return text;
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String domain = args[2];
        try (Socket plain = new Socket()) {
            plain.connect(new InetSocketAddress(host, port), 10000);
            plain.setSoTimeout(10000);
            OutputStream out = plain.getOutputStream();
            InputStream in = plain.getInputStream();
            out.write(("<?xml version='1.0'?><stream:stream to='" + domain
                    + "' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            readUntil(in, "</stream:features>");
            out.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".getBytes(StandardCharsets.UTF_8));
            out.flush();
            String proceed = readUntil(in, "/>");
            if (!proceed.contains("<proceed")) {
                throw new IllegalStateException("no proceed: " + proceed);
            }
            SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
            SSLSocket tls = (SSLSocket) factory.createSocket(plain, domain, port, true);
            SSLParameters params = tls.getSSLParameters();
            // The certificate must name the XMPP domain (as Smack checks it).
            params.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(params);
            tls.startHandshake();
            System.out.println("ok " + tls.getSession().getProtocol() + " " + tls.getSession().getPeerPrincipal());
        } catch (SSLException e) {
            System.out.println("tls-failed " + e);
            System.exit(1);
        }
    }
}
