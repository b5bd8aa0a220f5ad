export function App() {
  return <h1>SAS</h1>;
}
