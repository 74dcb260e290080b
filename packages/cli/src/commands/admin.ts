export async function run(_argv: string[]): Promise<void> {
  throw new Error("the admin command is not built yet");
}
