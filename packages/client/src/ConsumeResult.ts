/**
 * What a push consumer's listener returns. A class with two instances, as in
 * rocketmq-client-nodejs, so `ConsumeResult.SUCCESS` ports unchanged.
 */
export class ConsumeResult {
  /** The message was handled; its offset may be committed. */
  static readonly SUCCESS: ConsumeResult = new ConsumeResult("SUCCESS");
  /** The message failed: clustering consumers send it back for a later retry (%RETRY%<group>). */
  static readonly FAILURE: ConsumeResult = new ConsumeResult("FAILURE");
  readonly name: string;
  protected constructor(name: string) {
    this.name = name;
  }
  toString(): string {
    return this.name;
  }
}
