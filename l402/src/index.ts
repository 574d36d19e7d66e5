export const L402_PROTOCOL_VERSION = 0;
