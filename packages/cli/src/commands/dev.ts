export async function run(_argv: string[]): Promise<void> {
  throw new Error("the dev command is not built yet");
}
