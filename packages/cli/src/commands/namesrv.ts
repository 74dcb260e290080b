export async function run(_argv: string[]): Promise<void> {
  throw new Error("the namesrv command is not built yet");
}
