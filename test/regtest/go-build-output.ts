/** `go build -v` names each package on a line of its own as it compiles it; errors are other lines. */
const IMPORT_PATH_LINE = /^[\w.~-]+(?:\/[\w.~-]+)*$/;

/** Counts the packages a running `go build -v` has compiled, from its standard error as it arrives in chunks. */
export class GoBuildProgress {
  compiled = 0;
  last = "";
  private partLine = "";

  feed(chunk: string): void {
    const lines = (this.partLine + chunk).split("\n");
    this.partLine = lines.pop() ?? "";
    for (const line of lines.filter((text) => IMPORT_PATH_LINE.test(text))) {
      this.compiled += 1;
      this.last = line;
    }
  }
}

/** `go build -v`'s standard error without the package names, for an error message. */
export function withoutPackageNames(output: string): string {
  return output
    .split("\n")
    .filter((line) => !IMPORT_PATH_LINE.test(line))
    .join("\n");
}
