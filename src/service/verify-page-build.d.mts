/** Types of verify-page-build.mjs (see that module's header). */
export declare const APP_MARKER: string;
export declare const TRUST_MARKER: string;
export declare function buildVerifyPage(): Promise<string>;
