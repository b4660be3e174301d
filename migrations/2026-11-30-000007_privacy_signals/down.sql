DROP TABLE privacy_signals;
