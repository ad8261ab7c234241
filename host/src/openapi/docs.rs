//! `/api/docs`: Redoc, served by the binary itself.
