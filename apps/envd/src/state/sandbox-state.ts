import { userInfo } from "node:os";
import { AccessToken } from "../auth/access-token.js";

// What POST /init configures and every request reads: the sandbox-wide environment, the
// default user and working directory, and the access token.
export class SandboxState {
  readonly token = new AccessToken();
  envVars: Record<string, string> = {};
  defaultUser: string = currentUserName();
  defaultWorkdir: string | undefined;
}

function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return "root";
  }
}
