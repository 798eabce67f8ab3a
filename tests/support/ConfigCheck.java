// Reads rendered JVM-service configs the way the services do and prints what
// they read, one JSON object per line, so the Rust tests compare values.
//
//   java -cp typesafe-config.jar ConfigCheck hocon FILE... | properties FILE...
//
// hocon: Typesafe Config (the library jicofo, jvb and jibri use) parses and
//   resolves FILE; prints {"file", "ok", "value": <the resolved tree>} or
//   {"file", "ok": false, "error"}. Missing includes are ignored, as in the
//   services.
// properties: java.util.Properties.load (jigasi's sip-communicator.properties,
//   every logging.properties); prints {"file", "ok", "value": {key: value}}.
//   Properties.load accepts almost anything, so this also fails on what it
//   would silently take: a key assigned twice and a line without a separator.

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

public class ConfigCheck {
    public static void main(String[] args) throws Exception {
        // UTF-8 whatever the locale: values with unicode must read back.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String mode = args[0];
        for (int i = 1; i < args.length; i++) {
            String file = args[i];
            try {
                String value = mode.equals("hocon") ? hocon(file) : properties(file);
                out.println("{\"file\":" + quote(file) + ",\"ok\":true,\"value\":" + value + "}");
            } catch (Exception e) {
                out.println("{\"file\":" + quote(file) + ",\"ok\":false,\"error\":" + quote(e.toString()) + "}");
            }
        }
    }

    static String hocon(String file) {
        Config c = ConfigFactory.parseFile(new File(file), ConfigParseOptions.defaults().setAllowMissing(false))
            .resolve();
        return c.root().render(ConfigRenderOptions.concise());
    }

    static String properties(String file) throws Exception {
        checkSeparators(file);
        final List<String> duplicates = new ArrayList<>();
        Properties p = new Properties() {
            @Override
            public synchronized Object put(Object k, Object v) {
                if (containsKey(k)) duplicates.add((String) k);
                return super.put(k, v);
            }
        };
        try (InputStream in = new FileInputStream(file)) {
            p.load(in);
        }
        if (!duplicates.isEmpty()) throw new IllegalStateException("key assigned twice: " + duplicates);
        Map<String, String> sorted = new TreeMap<>();
        for (String k : p.stringPropertyNames()) sorted.put(k, p.getProperty(k));
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, String> e : sorted.entrySet()) {
            if (sb.length() > 1) sb.append(',');
            sb.append(quote(e.getKey())).append(':').append(quote(e.getValue()));
        }
        return sb.append('}').toString();
    }

    // Every logical line that is not blank or a comment has an unescaped
    // '=', ':' or white space after a non-empty key.
    static void checkSeparators(String file) throws Exception {
        List<String> lines = Files.readAllLines(new File(file).toPath(), StandardCharsets.ISO_8859_1);
        boolean continuation = false;
        int n = 0;
        for (String raw : lines) {
            n++;
            String line = raw.replaceAll("^[ \\t\\f]+", "");
            boolean cont = continuation;
            continuation = endsWithOddBackslashes(raw);
            if (cont || line.isEmpty() || line.startsWith("#") || line.startsWith("!")) continue;
            int i = 0;
            boolean found = false;
            while (i < line.length()) {
                char ch = line.charAt(i);
                if (ch == '\\') { i += 2; continue; }
                if (ch == '=' || ch == ':' || ch == ' ' || ch == '\t' || ch == '\f') { found = i > 0; break; }
                i++;
            }
            if (!found) throw new IllegalStateException("line " + n + " has no key and separator: " + raw);
        }
    }

    static boolean endsWithOddBackslashes(String s) {
        int k = 0;
        for (int i = s.length() - 1; i >= 0 && s.charAt(i) == '\\'; i--) k++;
        return k % 2 == 1;
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}
