export async function run(_argv: string[]): Promise<void> {
  throw new Error("the bench command is not built yet");
}
