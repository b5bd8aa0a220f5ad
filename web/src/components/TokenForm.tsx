import { useId, useState, type FormEvent } from 'react';

interface TokenFormProps {
  hadToken: boolean;
  onSubmit: (token: string) => void;
}

/** Asks for the local API token after the API answered 401. */
export function TokenForm({ hadToken, onSubmit }: TokenFormProps) {
  const [value, setValue] = useState('');
  const inputId = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (value.trim() !== '') onSubmit(value);
    setValue('');
  };
  return (
    <form className="panel token-form" onSubmit={submit} data-testid="token-form" aria-labelledby={`${inputId}-h`}>
      <h2 id={`${inputId}-h`}>API token needed</h2>
      <p className="muted small">
        {hadToken ? 'The API refused the stored token.' : 'The API wants a token.'} It is kept in this browser only.
      </p>
      <div className="token-row">
        <label htmlFor={inputId}>API token</label>
        <input
          id={inputId}
          type="password"
          autoComplete="off"
          autoFocus
          spellCheck={false}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          data-testid="token-input"
        />
        <button type="submit" data-testid="token-submit">
          Use token
        </button>
      </div>
    </form>
  );
}
