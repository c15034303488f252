// esbuild bundles CSS as text (--loader:.css=text).
declare module "*.css" {
  const text: string;
  export default text;
}
