// Pieces the in-process broker benches share (broker-inproc, dedup-ab-inproc, tx-inproc,
// tx-inproc-ab): a client connection that is never written to, and the transaction requests
// our producer sends. `P` is the protocol package of the build being measured (benches may
// load another build's with --root / --base).

/** A connection for handlers called directly: answers are taken from the handler's return. */
export function inprocConnection() {
  return {
    id: 1,
    remoteAddress: "127.0.0.1",
    remotePort: 50000,
    localPort: 1,
    closed: false,
    send() {},
    invoke: () => Promise.reject(new Error("no")),
    invokeOneway: () => Promise.resolve(),
    close() {},
    onClose() {},
  };
}

/** A SEND_HALF_BATCH of one half per UNIQ_KEY as our producer sends them (TRAN_MSG, PGROUP, TAGS), 500 B bodies. */
export function halfBatchRequest(P, topic, uniqs, queueId) {
  const body = P.encodeHalfBatch(
    uniqs.map((u) => ({
      topic,
      queueId,
      sysFlag: 4,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: P.encodeProperties({ TAGS: "bench", UNIQ_KEY: u, TRAN_MSG: "true", PGROUP: "bench_tx" }),
      body: Buffer.alloc(500, 97),
    })),
  );
  const req = P.createRequest(
    P.TransactionRequestCode.SEND_HALF_BATCH,
    { producerGroup: "bench_tx", defaultTopic: "TBW102", defaultTopicQueueNums: 4 },
    body,
    { serializeType: 1 },
  );
  req.opaque = 8;
  return req;
}

/** The END_TRANSACTION_BATCH frame (without its length prefix) committing `entries`. */
export function commitBatchFrame(P, entries) {
  const end = P.createRequest(
    P.TransactionRequestCode.END_TRANSACTION_BATCH,
    { producerGroup: "bench_tx", fromTransactionCheck: false },
    P.encodeEndTransactionBatch(entries),
    { serializeType: 1 },
  );
  return P.encodeFrame(end).subarray(4);
}
