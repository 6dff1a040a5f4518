// Runs mongo-java-server (a Mongo wire protocol server in Java) for the local stack.
// Started by deploy/local/stack with Java's single-file source launcher:
//   java -cp '<mongo-java-server lib>/*' MongoServerMain.java --host 127.0.0.1 --port N \
//        --file <run dir>/mongo/data.mv      (or --memory for a non-persistent store)
// Data is kept in one H2 MVStore file; SIGTERM flushes it and closes the server cleanly.
import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.concurrent.CountDownLatch;

public class MongoServerMain {
  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 27017;
    String file = null;
    boolean memory = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--host" -> host = args[++i];
        case "--port" -> port = Integer.parseInt(args[++i]);
        case "--file" -> file = args[++i];
        case "--memory" -> memory = true;
        default -> {
          System.err.println("usage: MongoServerMain --host H --port N (--file F | --memory)");
          System.exit(2);
        }
      }
    }
    if (file == null && !memory) {
      System.err.println("MongoServerMain: --file <path> or --memory is required");
      System.exit(2);
    }
    final H2Backend h2 = memory ? null : new H2Backend(file);
    final MongoBackend backend = memory ? new MemoryBackend() : h2;
    final MongoServer server = new MongoServer(backend);
    server.bind(host, port);
    System.err.printf("mongo-java-server listening on %s:%d (%s)%n", host, port,
        memory ? "memory backend" : "H2 backend, file " + file);

    final CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.err.println("mongo-java-server: shutting down");
      server.shutdownNow();  // closes clients, stops listening, closes the backend (flushes H2)
      stopped.countDown();
      System.err.println("mongo-java-server: stopped");
    }));
    stopped.await();
  }
}
