/**
 * Questions on stdout, answers from stdin one line at a time, for the
 * interactive `ctl` commands (`config create`, `agent delete`). Works on a
 * terminal and on piped input alike; lines that arrive together are queued,
 * and the end of input yields `undefined` so a caller can stop cleanly.
 *
 * @example
 *   const answers = stdinAnswers(out);
 *   const yes = (await answers.ask("Really delete? [y/N]: "))?.trim().toLowerCase() === "y";
 *   answers.close();
 */
import { createInterface } from "node:readline";

export interface Answers {
  /** Prints the question (no newline) and resolves to the next line without its newline, or undefined at end of input. */
  ask(question: string): Promise<string | undefined>;
  close(): void;
}

export function stdinAnswers(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Answers {
  const rl = createInterface({ input, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  return {
    async ask(question) {
      output.write(question);
      const next = await lines.next();
      if (next.done) {
        output.write("\n");
        return undefined;
      }
      return next.value.replace(/\r$/, "");
    },
    close: () => rl.close(),
  };
}
