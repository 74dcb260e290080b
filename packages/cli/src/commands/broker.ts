export async function run(_argv: string[]): Promise<void> {
  throw new Error("the broker command is not built yet");
}
