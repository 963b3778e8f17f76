import java.io.BufferedInputStream;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/** Reads a ZIP from standard input with ZipInputStream; prints "name size sha256" per member. */
public final class ReadZip {
    public static void main(String[] args) throws Exception {
        InputStream in = new BufferedInputStream(System.in, 1 << 20);
        try (ZipInputStream zip = new ZipInputStream(in)) {
            byte[] buffer = new byte[1 << 20];
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                MessageDigest digest = MessageDigest.getInstance("SHA-256");
                long size = 0;
                int read;
                while ((read = zip.read(buffer)) > 0) {
                    digest.update(buffer, 0, read);
                    size += read;
                }
                StringBuilder hex = new StringBuilder();
                for (byte b : digest.digest()) {
                    hex.append(String.format("%02x", b));
                }
                System.out.println(entry.getName() + " " + size + " " + hex);
            }
        }
    }
}
