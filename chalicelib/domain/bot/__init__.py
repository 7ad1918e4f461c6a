"""The residents' bot, in plain Python.

- `definition`: a municipality's validated configuration (`MunicipalityDefinition`).
- `config_loader`: plain data → definition, reporting every problem with its path (`ConfigError`).
- `engine`: `advance(definition, state, BotInput, now) → BotTurn(state, replies, events)`.
- `events`: what the bot decided (`HandoffRequested`, `LanguageChosen`, `FaqAnswered`).
- `matching`, `limits`, `template_languages`, `config_reader`, `errors`: their helpers.

The YAML file is read at the edge, by `chalicelib.adapters.config_file`.
"""
