export const PACKAGE_NAME = "@l402-gateway/gateway";
