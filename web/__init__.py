"""The web app: dripline's ears (Twilio, SendGrid, lender feeds, unsubscribe links), on the service layer."""
