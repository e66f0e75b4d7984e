# Models of this app arrive with their own issue (see the project's issues).
