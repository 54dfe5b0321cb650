"""The Telegram channel: builds the Application and renders replies as Telegram messages."""
