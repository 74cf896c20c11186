import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Copies a jar of compiled tests with every character that DEX does not allow
 * in a name (spaces, commas, apostrophes, ...) replaced by '_' in the class
 * files' UTF-8 constants and in the entry names. R8's TraceReferences refuses
 * such names, and the JVM tests' names, and the classes of their lambdas,
 * have them. Each character becomes one '_', so every constant keeps its
 * length and the class file its layout; references to the library are not
 * touched. The copy is only read, to list what the tests use of the library:
 * the tests themselves run unchanged.
 *
 * Usage: java DexSafeNames.java IN.jar OUT.jar (plain JDK, no dependencies)
 */
public final class DexSafeNames {
    /** Kept: what DEX allows in a name, and the syntax of descriptors and signatures. */
    static boolean kept(int b) {
        return b >= 0x80 || Character.isLetterOrDigit(b) || "$-_/;()[<>.:*+^".indexOf(b) >= 0;
    }

    static byte[] clean(byte[] bytes, boolean classFile) throws Exception {
        if (!classFile) {
            return bytes;
        }
        DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(bytes));
        in.skipBytes(8); // magic, minor, major
        int count = in.readUnsignedShort();
        int offset = 10;
        for (int i = 1; i < count; i++) {
            int tag = bytes[offset] & 0xff;
            int size;
            switch (tag) {
                case 1: // Utf8
                    int length = ((bytes[offset + 1] & 0xff) << 8) | (bytes[offset + 2] & 0xff);
                    for (int j = offset + 3; j < offset + 3 + length; j++) {
                        if (!kept(bytes[j] & 0xff)) {
                            bytes[j] = '_';
                        }
                    }
                    size = 3 + length;
                    break;
                case 3: case 4: case 9: case 10: case 11: case 12: case 17: case 18:
                    size = 5;
                    break;
                case 5: case 6: // Long, Double: two slots
                    size = 9;
                    i++;
                    break;
                case 7: case 8: case 16: case 19: case 20:
                    size = 3;
                    break;
                case 15:
                    size = 4;
                    break;
                default:
                    throw new IllegalArgumentException("unknown constant pool tag " + tag);
            }
            offset += size;
        }
        return bytes;
    }

    static String cleanName(String name) {
        StringBuilder out = new StringBuilder(name.length());
        for (char c : name.toCharArray()) {
            out.append(kept(c) ? c : '_');
        }
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        try (ZipInputStream in = new ZipInputStream(new FileInputStream(args[0]));
             ZipOutputStream out = new ZipOutputStream(new FileOutputStream(args[1]))) {
            for (ZipEntry entry; (entry = in.getNextEntry()) != null; ) {
                if (entry.isDirectory()) {
                    continue;
                }
                ByteArrayOutputStream buffer = new ByteArrayOutputStream();
                in.transferTo(buffer);
                String name = entry.getName();
                out.putNextEntry(new ZipEntry(cleanName(name)));
                out.write(clean(buffer.toByteArray(), name.endsWith(".class")));
                out.closeEntry();
            }
        }
    }
}
