FROM node:lts-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package*.json npm-shrinkwrap.json* ./
RUN npm ci --omit=dev
COPY . .
ENV PORT=8080
EXPOSE 8080
CMD ["npm","start"]
