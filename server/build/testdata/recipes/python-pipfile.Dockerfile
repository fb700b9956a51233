FROM python:3
WORKDIR /app
ENV PYTHONUNBUFFERED=1
COPY Pipfile Pipfile.lock* ./
RUN pip install --no-cache-dir pipenv && pipenv install --system --deploy
COPY . .
ENV PORT=8080
EXPOSE 8080
CMD ["/bin/sh","-c","gunicorn app:app"]
