// A loopback TCP proxy for one directed Raft link (replica i → replica j): i's peers list
// names the proxy's port for j. cut() drops the link's connections and refuses new ones
// until heal(): a network partition without root or namespaces.
import net from "node:net";

export class LinkProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.cut_ = false;
    /** Connections refused while cut: the sender kept trying (evidence the cut took effect). */
    this.refused = 0;
    this.conns = new Set();
    this.server = net.createServer((c) => this.accept(c));
  }

  async listen(port = 0) {
    await new Promise((r) => this.server.listen(port, "127.0.0.1", r));
    this.port = this.server.address().port;
    return this.port;
  }

  accept(c) {
    if (this.cut_) {
      this.refused++;
      c.destroy();
      return;
    }
    const up = net.connect(this.targetPort, "127.0.0.1");
    const pair = [c, up];
    this.conns.add(pair);
    const close = () => {
      c.destroy();
      up.destroy();
      this.conns.delete(pair);
    };
    c.on("error", close);
    up.on("error", close);
    c.on("close", close);
    up.on("close", close);
    c.pipe(up);
    up.pipe(c);
  }

  cut() {
    this.cut_ = true;
    for (const [a, b] of this.conns) {
      a.destroy();
      b.destroy();
    }
    this.conns.clear();
  }

  heal() {
    this.cut_ = false;
  }

  close() {
    this.cut();
    return new Promise((r) => this.server.close(r));
  }
}
