import { describe, expect, test } from "vitest";
import { parseDockerfile } from "./dockerfile.js";

describe("parseDockerfile", () => {
  test("FROM, RUN (both forms, continued lines), COPY, ENV, WORKDIR, USER, CMD", () => {
    const parsed = parseDockerfile(`# a comment
FROM registry.local:5000/app:1
LABEL x=y
RUN apt-get update && \\
    apt-get install -y curl
RUN ["echo", "two words"]
COPY --chown=user app/ /srv/app/
COPY a.txt b.txt /srv/
ENV A=1 B="two words"
ENV C three words
WORKDIR /srv/app
USER user
ENTRYPOINT ["python3"]
CMD ["-m", "http.server"]
`);
    expect(parsed).toEqual({
      from: "registry.local:5000/app:1",
      steps: [
        { type: "USER", args: ["root"] },
        { type: "WORKDIR", args: ["/"] },
        { type: "RUN", args: ["apt-get update &&      apt-get install -y curl"] },
        { type: "RUN", args: ["echo 'two words'"] },
        { type: "COPY", args: ["app/", "/srv/app/", "user", ""] },
        { type: "COPY", args: ["a.txt", "/srv/", "", ""] },
        { type: "COPY", args: ["b.txt", "/srv/", "", ""] },
        { type: "ENV", args: ["A", "1", "B", "two words"] },
        { type: "ENV", args: ["C", "three words"] },
        { type: "WORKDIR", args: ["/srv/app"] },
        { type: "USER", args: ["user"] },
      ],
      startCmd: "python3 -m http.server",
    });
  });

  test("steps run as root in /; without USER/WORKDIR sandboxes get E2B's user and home", () => {
    expect(parseDockerfile("FROM a\nRUN make\n").steps).toEqual([
      { type: "USER", args: ["root"] },
      { type: "WORKDIR", args: ["/"] },
      { type: "RUN", args: ["make"] },
      { type: "USER", args: ["user"] },
      { type: "WORKDIR", args: ["/home/user"] },
    ]);
  });

  test("refuses what it does not support by name and line", () => {
    expect(() => parseDockerfile("FROM a\nADD x /y\n")).toThrow(/line 2 \(ADD\).*use COPY/);
    expect(() => parseDockerfile("FROM a\n\nARG V=1\n")).toThrow(/line 3 \(ARG\)/);
    expect(() => parseDockerfile("FROM a AS b\n")).toThrow(/line 1 \(FROM\)/);
    expect(() => parseDockerfile("FROM a\nFROM b\n")).toThrow(/multi-stage/);
    expect(() => parseDockerfile("RUN x\n")).toThrow(/must start with FROM/);
    expect(() => parseDockerfile("FROM a\nCOPY ../etc /x\n")).toThrow(/inside the build context/);
    expect(() => parseDockerfile("FROM a\nCOPY *.py /x/\n")).toThrow(/wildcards/);
    expect(() => parseDockerfile("FROM a\nCOPY --from=b x /x\n")).toThrow(/--from=b/);
  });
});
