# Admin registrations for this app's models live here.
